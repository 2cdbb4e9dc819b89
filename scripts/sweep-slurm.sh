#!/usr/bin/env bash
# Submit an accsim sweep to Slurm: a job array with one shard per array task, and a merge job
# that runs when every shard has succeeded. Shard count, time limit and memory per task come
# from the sweep's own estimate (`accsim sweep --dry-run`, run here on the submitting host).
# Rerunning the same command after a failure or a time-out resubmits: every shard resumes from
# its journal, and the shard count of the journals already in OUT is kept.
set -euo pipefail

usage() {
    cat <<USAGE
usage: scripts/sweep-slurm.sh [-p PARTITION] [-c CPUS] [-t WALL] [-n SHARDS] [-b ACCSIM]
                              [-a SBATCH_ARGS] [-e SWEEP_ARGS] [-w] [-h] SPEC OUT
Submit sweep SPEC as a Slurm job array (one shard per task) plus a dependent merge job.
  -p PARTITION  partition for both jobs (default: the cluster's default)
  -c CPUS       cores (and sweep threads) per shard task (default 1)
  -t WALL       target wall time per shard, sets the shard count (default 1h; 90s, 30m, 2h, 1d)
  -n SHARDS     shard count (default: suggested by --dry-run for WALL; kept from OUT if resuming)
  -b ACCSIM     accsim binary, on a file system the compute nodes see
                (default: accsim on PATH, else target/release/accsim)
  -a ARGS       extra sbatch arguments for both jobs, e.g. "--account=proj --qos=normal"
  -e ARGS       extra accsim sweep arguments for every shard, e.g. "--numerics sampled"
  -w            wait for the merge job and exit with its status
  -h            this help
Writes OUT/shards/ (one journal per shard), OUT/logs/, and OUT/SPEC-NAME.csv and .json.
Time limit per task: twice the estimate plus 5 minutes; memory: 1.5 x the estimate plus 256 MB.
USAGE
}

partition="" cpus=1 wall=1h shards="" accsim="" sbatch_extra="" sweep_extra="" wait=""
while getopts "p:c:t:n:b:a:e:wh" opt; do
    case $opt in
        p) partition=$OPTARG ;;
        c) cpus=$OPTARG ;;
        t) wall=$OPTARG ;;
        n) shards=$OPTARG ;;
        b) accsim=$OPTARG ;;
        a) sbatch_extra=$OPTARG ;;
        e) sweep_extra=$OPTARG ;;
        w) wait=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 2 ]; then
    usage >&2
    exit 2
fi
for n in "$cpus" ${shards:+"$shards"}; do
    if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
        echo "sweep-slurm: -c and -n take a whole number >= 1, got '$n'" >&2
        exit 2
    fi
done
command -v sbatch >/dev/null || { echo "sweep-slurm: sbatch not found (is Slurm installed?)" >&2; exit 2; }
if [ -z "$accsim" ]; then
    accsim=$(command -v accsim || echo "$(dirname "$0")/../target/release/accsim")
fi
[ -x "$accsim" ] || { echo "sweep-slurm: accsim binary '$accsim' not found; pass -b" >&2; exit 2; }
accsim=$(readlink -f "$accsim")
spec=$(readlink -f "$1")
[ -f "$spec" ] || { echo "sweep-slurm: spec '$1' not found" >&2; exit 2; }
mkdir -p "$2/shards" "$2/logs"
out=$(readlink -f "$2")
stem=$(basename "$spec" .ron)
read -r -a sweep_args <<<"$sweep_extra"
read -r -a sbatch_args <<<"$sbatch_extra"
[ -n "$partition" ] && sbatch_args+=(--partition="$partition")

# Resuming: keep the split the journals already in OUT were made with.
if [ -z "$shards" ]; then
    existing=$(find "$out/shards" -maxdepth 1 -name "$stem.shard-*-of-*.jsonl" | head -n 1)
    if [ -n "$existing" ]; then
        shards=${existing##*-of-}
        shards=${shards%.jsonl}
        echo "resuming the $shards-shard split in $out/shards"
    fi
fi

# The sweep's own estimate: shard count (unless given), then time and memory per shard.
plan=$("$accsim" sweep "$spec" "${sweep_args[@]}" --threads "$cpus" --dry-run --target-wall "$wall")
key() { sed -n "s/^$1=//p" <<<"$plan"; }
if [ -z "$shards" ]; then
    shards=$(key shards)
else
    plan=$("$accsim" sweep "$spec" "${sweep_args[@]}" --threads "$cpus" --dry-run --shard "0/$shards")
fi
echo "$plan" | grep -v '=' || true
minutes=$(awk -v s="$(key shard_wall_s)" 'BEGIN { m = int((2 * s + 59) / 60) + 5; print m }')
mem_mb=$(awk -v b="$(key shard_mem_bytes)" 'BEGIN { print int(1.5 * b / 1048576) + 256 }')
points=$(key points)

shard_cmd=$(printf '%q ' "$accsim" sweep "$spec" "${sweep_args[@]}" --threads "$cpus" --out "$out/shards")
array=$(sbatch --parsable "${sbatch_args[@]}" \
    --job-name="accsim-$stem" --array="0-$((shards - 1))" \
    --cpus-per-task="$cpus" --mem="${mem_mb}M" --time="$minutes" \
    --output="$out/logs/shard-%a.log" \
    --wrap="$shard_cmd --shard \$SLURM_ARRAY_TASK_ID/$shards")
array=${array%%;*}
echo "submitted shards: job array $array, $shards tasks of $cpus CPU(s), ${minutes} min, ${mem_mb} MB each"

merge_cmd=$(printf '%q ' "$accsim" sweep "$spec" "${sweep_args[@]}" --merge "$out/shards" --out "$out")
merge_mem=$((256 + points / 1000))
merge=$(sbatch --parsable "${sbatch_args[@]}" \
    --job-name="accsim-$stem-merge" --dependency="afterok:$array" --kill-on-invalid-dep=yes \
    --cpus-per-task=1 --mem="${merge_mem}M" --time=30 \
    --output="$out/logs/merge.log" --wrap="$merge_cmd")
merge=${merge%%;*}
echo "submitted merge: job $merge, after every shard succeeds; results in $out/$stem.csv and .json"
[ -n "$wait" ] || exit 0

# Wait for the merge job (polling every 1, 2, 4 ... 16 s; sbatch --wait backs off to 30 s and more).
pause=1
while :; do
    state=$(scontrol show job -o "$merge" 2>/dev/null | grep -o 'JobState=[A-Z_]*' || true)
    case ${state#JobState=} in
        PENDING | CONFIGURING | RUNNING | COMPLETING | REQUEUED | SUSPENDED) ;;
        COMPLETED) echo "merge job $merge completed"; exit 0 ;;
        "") [ -f "$out/$stem.csv" ] && exit 0
            echo "merge job $merge is gone and $out/$stem.csv is missing: see $out/logs/" >&2; exit 1 ;;
        *) echo "merge job $merge ended ${state#JobState=} (a shard failed?): see $out/logs/" >&2; exit 1 ;;
    esac
    sleep "$pause"
    pause=$((pause < 16 ? pause * 2 : 16))
done
