# Sourced by the bench scripts. best CMD…: the best wall time in seconds of $RUNS runs of the
# command (process start included), its stdout left in $work/out.
best() {
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" >"$work/out"; t1=$(date +%s.%N)
    best=$(python3 -c "t=$t1-$t0; b='$best'; print(t if not b or t<float(b) else b)")
  done
  echo "$best"
}
