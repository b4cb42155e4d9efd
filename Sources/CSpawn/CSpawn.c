#define _GNU_SOURCE
#include "CSpawn.h"
#include <fcntl.h>
#include <spawn.h>
#include <string.h>

int cervella_spawn(const char *path, char *const argv[], char *const envp[],
                   const char *directory, const char *output, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    int inherit = output && strcmp(output, "-") == 0;
    if (result == 0 && !inherit) {
        result = posix_spawn_file_actions_addopen(&actions, 1, output ? output : "/dev/null",
                                                  O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
    if (result == 0 && !inherit) result = posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (result == 0 && directory) result = posix_spawn_file_actions_addchdir_np(&actions, directory);
    if (result == 0) result = posix_spawn(pid, path, &actions, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}
