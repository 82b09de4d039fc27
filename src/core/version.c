/* The library version. */
#include "ember/ember.h"

#define STR2(x) #x
#define STR(x) STR2(x)

const char *ember_version(void) {
    return STR(EMBER_VERSION_MAJOR) "." STR(EMBER_VERSION_MINOR) "." STR(EMBER_VERSION_PATCH);
}
