#!/usr/bin/env node
// The `consul-watch-soak` command. A committed file, so that installing the workspace before its first
// build can link the command (the build output it loads does not exist yet at that point).
import '../dist/cli.js';
