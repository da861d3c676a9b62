#!/usr/bin/env bash
# Message catalogs (Flask-Babel) of the core and of each plugin folder.
#
#   scripts/i18n.sh                  extract, update and compile: core and every plugin
#   scripts/i18n.sh core crm         the same, for these only
#   scripts/i18n.sh compile [...]    compile the .po files into .mo only
#
# For each target (core/ or plugins/<name>/) the strings of its Python files and
# templates (babel.cfg) are extracted, merged into <target>/translations/<lang>/
# LC_MESSAGES/messages.po (created the first time), and compiled to messages.mo, which
# is what the app reads at run time (commit both).  Strings that changed are marked
# "fuzzy" and left out of the .mo until a translator checks them.  Languages:
# GRAPPE_LANGUAGES (default "fr"; English is the source language).  pybabel comes from
# PATH or PYBABEL.
set -euo pipefail
cd "$(dirname "$0")/.."

PYBABEL="${PYBABEL:-$(command -v pybabel || true)}"
if [ -z "$PYBABEL" ]; then
  for candidate in "$(dirname "$(command -v python3)")/pybabel" .venv/bin/pybabel venv/bin/pybabel; do
    [ -x "$candidate" ] && PYBABEL="$candidate" && break
  done
fi
[ -n "$PYBABEL" ] || { echo "pybabel not found: pip install Babel, or set PYBABEL" >&2; exit 1; }
LANGUAGES="${GRAPPE_LANGUAGES:-fr}"

mode=all
if [ "${1:-}" = compile ] || [ "${1:-}" = all ]; then mode=$1; shift; fi

targets=()
if [ $# -eq 0 ]; then
  targets+=(core)
  for init in plugins/*/__init__.py; do
    [ -e "$init" ] && targets+=("$(dirname "$init")")
  done
else
  for name in "$@"; do
    if [ "$name" = core ]; then targets+=(core)
    elif [ -f "plugins/$name/__init__.py" ]; then targets+=("plugins/$name")
    else echo "no such target: $name (core or a folder under plugins/)" >&2; exit 1
    fi
  done
fi

pot="$(mktemp)"
trap 'rm -f "$pot"' EXIT

for target in "${targets[@]}"; do
  out="$target/translations"
  echo "== $target"
  if [ "$mode" = all ]; then
    "$PYBABEL" -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
      --add-location=file --sort-by-file --project=Grappe --copyright-holder="Grappe contributors" \
      -o "$pot" "$target"
    for lang in $LANGUAGES; do
      if [ -f "$out/$lang/LC_MESSAGES/messages.po" ]; then
        "$PYBABEL" -q update -i "$pot" -d "$out" -l "$lang" --ignore-pot-creation-date
      else
        "$PYBABEL" -q init -i "$pot" -d "$out" -l "$lang"
      fi
    done
  fi
  for lang in $LANGUAGES; do
    po="$out/$lang/LC_MESSAGES/messages.po"
    [ -f "$po" ] || continue
    "$PYBABEL" compile --statistics -d "$out" -l "$lang" 2>&1 | sed 's/^/   /'
  done
done
