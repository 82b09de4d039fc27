/* A one-line progress bar on stderr, drawn only when stderr is a terminal. */
#include "cli/cli.h"

#include <unistd.h>

void cli_progress_begin(cli_progress *pr, const char *label, int64_t total) {
    *pr = (cli_progress){label, total > 0 ? total : 1, 0, isatty(STDERR_FILENO) == 1, -1};
    cli_progress_step(pr, 0);
}

void cli_progress_step(cli_progress *pr, int64_t done) {
    pr->done = done;
    if (!pr->active) return;
    enum { WIDTH = 30 };
    int filled = (int)(WIDTH * (done > pr->total ? pr->total : done) / pr->total);
    if (filled == pr->last_width && done != pr->total) return; /* redraw only when the bar moves */
    pr->last_width = filled;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = 0;
    fprintf(stderr, "\r%s [%s] %lld/%lld", pr->label, bar, (long long)done, (long long)pr->total);
    fflush(stderr);
}

void cli_progress_clear(cli_progress *pr) {
    if (!pr->active) return;
    fprintf(stderr, "\r\033[K");
    pr->last_width = -1; /* the next step draws the bar again */
}

void cli_progress_end(cli_progress *pr) {
    if (pr->active) fprintf(stderr, "\r\033[K");
    pr->active = false;
}
