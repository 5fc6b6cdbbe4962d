#!/bin/sh
# Build the C parser tests under ASan/UBSan and run them.
# Usage: csrc/run_c_tests.sh [fuzz-iterations]   (from any directory)
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -std=c11 -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1 \
    -Wall -Wextra -Werror \
    csrc/http_parser.c csrc/test_http_parser.c -o "$tmp/test_http_parser"
"$tmp/test_http_parser" "$@"
