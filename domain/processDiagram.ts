// The process as a picture: a Mermaid flowchart rendered from the same definition the
// workflow interprets, so the README's diagram cannot drift from the code.
import type { ProcessDefinition } from './process.ts';

const SHAPES = { auto: ['[', ']'], wait: ['([', '])'], human: ['{{', '}}'] } as const;

export function mermaidOf(process: ProcessDefinition): string {
  const id = (step: string) => step.replace(/[^A-Za-z0-9]/g, '_');
  const lines = ['flowchart LR', '  intake[intake<br/>orchestrator]'];
  for (const step of process.steps) {
    const [open, close] = SHAPES[step.kind];
    const notes = [
      step.agency,
      step.pointOfNoReturn ? 'point of no return' : '',
      step.compensation ? `undo: ${step.compensation}` : '',
    ]
      .filter(Boolean)
      .join('<br/>');
    lines.push(`  ${id(step.id)}${open}"${step.id}<br/>${notes}"${close}`);
  }
  lines.push('  close[close<br/>orchestrator]');
  for (const step of process.steps) {
    const from = step.needs.length === 0 ? ['intake'] : step.needs;
    for (const need of from) {
      const label = step.when && step.when.step === need ? `-- "if ${step.when.fact}" -->` : '-->';
      lines.push(`  ${id(need)} ${label} ${id(step.id)}`);
    }
  }
  const needed = new Set(process.steps.flatMap((s) => s.needs));
  for (const step of process.steps)
    if (!needed.has(step.id)) lines.push(`  ${id(step.id)} --> close`);
  return `${lines.join('\n')}\n`;
}
