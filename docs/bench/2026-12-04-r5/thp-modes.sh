#!/bin/bash
# The THP-modes table of README.md (run of 2026-12-04): the binaries of a
# `cargo xtask bench` run, and of `--memory-study --points ...` for `mstoday`
# (mimalloc's own option defaults), under each of the kernel's
# transparent_hugepage/enabled modes, 3 runs each. Needs root (it switches
# the mode and restores it) and the cgroup v1 memory controller.
#
#   docs/bench/2026-12-04-r5/thp-modes.sh [BIN_DIR] > thp-modes.tsv
set -eu
B=${1:-target/bench/bin}
T=/sys/kernel/mm/transparent_hugepage/enabled
orig=$(sed 's/.*\[\(.*\)\].*/\1/' $T)
trap 'echo $orig > $T' EXIT
err=$(mktemp)
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$err"; e=$(date +%s.%N); echo "$e - $s" | bc; }
# limited MIB CMD...: runs CMD in a fresh memory cgroup limited to MIB.
limited() {
  local lim=$1 g=/sys/fs/cgroup/memory/thp-modes$$; shift
  mkdir $g
  echo $((lim << 20)) > $g/memory.limit_in_bytes
  sh -c "echo \$\$ > $g/cgroup.procs; exec \"\$@\"" sh "$@" >/dev/null 2>&1 || true
  echo "max=$(($(cat $g/memory.max_usage_in_bytes) >> 20))MiB $(grep oom_kill $g/memory.oom_control | tr '\n' ' ')"
  rmdir $g
}
echo -e "mode\tvariant\trun\tmetric\tvalue"
for mode in always madvise never; do
  echo $mode > $T
  for run in 1 2 3; do
    for v in glibc glibc-mimalloc mstoday fastmusl; do
      w=$B/$v/alloc-workloads
      echo -e "$mode\t$v\t$run\tfresh200x4_s\t$(seconds $w fresh 4 200)"
      echo -e "$mode\t$v\t$run\tfresh200x1_s\t$(seconds $w fresh 1 200)"
      echo -e "$mode\t$v\t$run\tchurnlargex8_s\t$(seconds $w churn 8 5000 131072 524288)"
      echo -e "$mode\t$v\t$run\tchurnmediumx8_s\t$(seconds $w churn 8 100000 4096 65536)"
      idle=$($w idle 4 200 1000 2>&1 >/dev/null | sed -n 's/.*rss_idle_1000ms_kib=\([0-9]*\).*/\1/p')
      echo -e "$mode\t$v\t$run\tidle1s_kib\t$idle"
      if [ -x $B/$v/hello-c ]; then
        echo -e "$mode\t$v\t$run\thelloc_kib\t$($B/$v/hello-c 2>&1 >/dev/null | sed -n 's/.*rss_kib=\([0-9]*\) .*/\1/p')"
      fi
      echo -e "$mode\t$v\t$run\tlimit256\t$(limited 256 $w phases 4 200 6)"
    done
  done
done
