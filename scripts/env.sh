# Shared settings for the scripts (sourced). One cargo target directory outside the checkout,
# so repeated builds (and CI runs on the same machine) reuse what was compiled.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/berth/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
