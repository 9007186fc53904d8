/* cmd_clip.h -- `curate clip`: embeddings and zero-shot labels from the command line. */
#ifndef CURATE_CMD_CLIP_H
#define CURATE_CMD_CLIP_H

#include "cli.h"

/* argv[0] == "clip"; subcommands image, text, zeroshot (see --help).
** Returns a CUR_EXIT_* code; output goes to stdout, messages to stderr. */
int cur_cmd_clip(const cur_globals *g, int argc, char **argv);

#endif
