#!/bin/bash
# Align on 2 nodes x 8 GPUs under SLURM with DeepSpeed ZeRO-3:
#   sbatch recipes/accelerate/slurm_example.sh recipe=halva_llava13b
# Every argument is passed to mmalign.train; ACCELERATE_EXTRA_ARGS adds flags to accelerate launch
# (e.g. "--mixed_precision fp16" on GPUs without bf16). One task per node starts accelerate, which
# starts one process per GPU; node 0 is the rendezvous point. Submit from the repository root (or
# set MMALIGN_DIR).
#SBATCH --job-name=mmalign
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=06:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail
cd "${MMALIGN_DIR:-$SLURM_SUBMIT_DIR}"
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MAIN_IP=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MAIN_PORT=${MAIN_PORT:-29500}
export MAIN_IP MAIN_PORT GPUS_PER_NODE ACCELERATE_EXTRA_ARGS=${ACCELERATE_EXTRA_ARGS:-}
# A preempted or killed job resumes from its last checkpoint when resubmitted with resume_from_checkpoint=true.
srun --kill-on-bad-exit=1 bash -c '
  accelerate launch --config_file recipes/accelerate/zero3_2nodes.yaml \
    --num_machines "$SLURM_NNODES" --num_processes $((SLURM_NNODES * GPUS_PER_NODE)) \
    --machine_rank "$SLURM_NODEID" --main_process_ip "$MAIN_IP" --main_process_port "$MAIN_PORT" \
    $ACCELERATE_EXTRA_ARGS -m mmalign.train "$@"' bash "$@"
