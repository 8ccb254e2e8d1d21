# Sourced by tools/*.sh: sets each variable of mk/versions.env that the
# environment does not already set.
while IFS='=' read -r _k _v; do
  case "$_k" in '' | '#'*) continue ;; esac
  if [ -z "${!_k:-}" ]; then export "$_k=$_v"; fi
done <"$(dirname "${BASH_SOURCE[0]}")/versions.env"
unset _k _v
