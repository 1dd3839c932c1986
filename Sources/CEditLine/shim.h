// libedit's readline-compatible interface (Debian: libedit-dev), used by stockctl's interactive mode
// for line editing and history. stdio.h first: editline/readline.h uses FILE without including it.
#include <stdio.h>
#include <editline/readline.h>

// Sets libedit's character source. A C global is shared mutable state to Swift 6; setting it through
// a function keeps that in C, where it is one assignment before the first readline().
static inline void stockctl_set_getc_function(int (*function)(FILE *)) { rl_getc_function = function; }
