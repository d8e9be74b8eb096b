#!/bin/sh
# man-page.sh HELP2MAN BIN_DIR PAGE VERSION OUT: writes OUT, the gzipped man
# page of command PAGE (hugeshim, hugeshim-<cmd>) made by help2man from its
# --help. A built-in subcommand of `hugeshim` (run, record, ...) is reached
# through a one-line wrapper named after the page, so the page carries its
# own name. -n: gzip without a time stamp (reproducible; lintian asks).
set -eu
help2man=$1 bin=$2 page=$3 version=$4 out=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -x "$bin/$page" ]; then
  program=$bin/$page
else
  printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$bin/hugeshim" "${page#hugeshim-}" > "$work/$page"
  chmod +x "$work/$page"
  program=$work/$page
fi
# NAME: the command's one-line description, the first line of its --help
# that is not the usage line.
if [ "$page" = hugeshim ]; then
  name="huge pages for the large allocations of unmodified programs, and what each one cost"
else
  name=$("$program" --help 2>&1 | grep -v -i -e '^usage:' -e '^[[:space:]]*$' | head -n 1 | sed 's/[.:]*$//')
fi
"$help2man" --no-info --name="$name" --no-discard-stderr --version-string="$version" \
  --source=hugeshim --section=1 --output="$work/page.1" "$program"
gzip -9n < "$work/page.1" > "$out"
