/**
 * The job's gpupool GRES count, from `scontrol show job -o ID`: Slurm gives a TaskProlog the job's id
 * but not its GRES, and writes them as `TresPerNode=gres:gpupool:2` (and `JOB_GRES=gpupool:2` with
 * `-d`). Null: the job asked for no gpupool GRES.
 */
export function gpupoolGres(scontrolLine: string, name = 'gpupool'): number | null {
  const m = new RegExp(`(?:^|[\\s,=])gres(?:/|:)${name}(?::[^:\\s,=]+)?:(\\d+)(?=[\\s,]|$)`).exec(scontrolLine);
  return m ? Number(m[1]) : null;
}
