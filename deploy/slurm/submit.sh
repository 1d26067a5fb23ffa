#!/bin/bash
# Submit the extraction shards as one job array, then the merge and training as a job that
# starts when every task has ended. Settings come from the environment:
#   DATA FEATURES RUN (required), SHARDS (4), BASE (mobilenet), WEIGHTS, IMAGE_SIZE (224),
#   PRECISION (fp32), EPOCHS (20), CPUS (4 a task), MEM (8G a task), LOGS (logs),
#   TLKIT (tlkit: the command that runs it).
# Prints the two job ids. A failed task: re-run it alone, then the merge again:
#   scontrol requeue <shards>_<K>; sbatch --dependency=afterok:<shards>_<K> merge-train.sbatch
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shards=${SHARDS:-4}
logs=${LOGS:-logs}
mkdir -p "$logs"
common=(--parsable --export=ALL --cpus-per-task="${CPUS:-4}" --mem="${MEM:-8G}")
array=$(sbatch "${common[@]}" --array="0-$((shards - 1))" --output="$logs/extract-%A_%a.out" "$here/extract-shards.sbatch")
merge=$(sbatch "${common[@]}" --dependency="afterany:$array" --output="$logs/merge-train-%j.out" "$here/merge-train.sbatch")
echo "shards $array merge $merge"
