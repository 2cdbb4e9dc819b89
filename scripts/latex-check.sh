#!/bin/sh
# Usage: scripts/latex-check.sh [OUTDIR]
# Typesets every LaTeX table of reports/ (as the study writes them: booktabs tables meant for
# \input in a paper) into one PDF, OUTDIR/tables.pdf (default: a temporary folder), and fails
# on any LaTeX error. Installs pdflatex and booktabs from Debian's packages (texlive-latex-base,
# texlive-latex-recommended) when they are missing; that needs root.
set -eu
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
if ! command -v pdflatex >/dev/null 2>&1 || ! kpsewhich booktabs.sty >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "pdflatex with booktabs is missing; install texlive-latex-base and texlive-latex-recommended (as root)" >&2
        exit 2
    fi
    echo "installing texlive-latex-base texlive-latex-recommended from Debian's packages" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        texlive-latex-base texlive-latex-recommended >/dev/null
fi
set -- reports/*.tex
[ -e "$1" ] || { echo "no tables in reports/: run scripts/reports.sh first" >&2; exit 2; }
{
    printf '%s\n' '\documentclass{article}' '\usepackage[T1]{fontenc}' '\usepackage{booktabs}' \
        '\usepackage[landscape,margin=1cm]{geometry}' '\begin{document}'
    for t in "$@"; do
        printf '%s\n' "\\input{$(pwd)/$t}" '\clearpage'
    done
    printf '%s\n' '\end{document}'
} >"$out/tables.tex"
if pdflatex -interaction=nonstopmode -halt-on-error -output-directory "$out" "$out/tables.tex" >"$out/pdflatex.log" 2>&1; then
    echo "$# tables typeset: $out/tables.pdf"
else
    grep -A3 '^!' "$out/tables.log" >&2 || tail -20 "$out/pdflatex.log" >&2
    echo "LaTeX failed on the tables of reports/ (log: $out/tables.log)" >&2
    exit 1
fi
