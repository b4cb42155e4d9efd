#ifndef CERVELLA_CSPAWN_H
#define CERVELLA_CSPAWN_H

#include <sys/types.h>

/// Starts `path` with posix_spawn: stdin from /dev/null, stdout and stderr appended to
/// `output` (or /dev/null when NULL; kept as the parent's when "-"), working directory `directory` (or unchanged when NULL),
/// and every other descriptor of the parent closed in the child.
///
/// Foundation's Process.run on Linux (Swift 6.3) can crash the parent while it lists
/// /proc/self/fd (swift-corelibs-foundation #5472); glibc's posix_spawn does this work itself.
/// The closefrom and chdir file actions are GNU extensions, hence this C edge.
/// Returns 0 and sets *pid, or an errno value.
int cervella_spawn(const char *path, char *const argv[], char *const envp[],
                   const char *directory, const char *output, pid_t *pid);

#endif
