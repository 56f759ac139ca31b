import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jointTransferProcess } from './process.ts';
import { mermaidOf } from './processDiagram.ts';

describe('the process diagram', () => {
  it('draws every step and every dependency of the process', () => {
    const process = jointTransferProcess(['electricity']);
    const diagram = mermaidOf(process);
    for (const step of process.steps) expect(diagram).toContain(`${step.id}<br/>${step.agency}`);
    // Every dependency as an edge, with the condition on it where the step has one.
    const node = (id: string) => id.replace(/[^A-Za-z0-9]/g, '_');
    for (const step of process.steps)
      for (const need of step.needs.length === 0 ? ['intake'] : step.needs)
        expect(diagram).toMatch(
          new RegExp(`\\n  ${node(need)} (-->|-- "if \\w+" -->) ${node(step.id)}\\n`),
        );
    expect(diagram).toContain('checkTitle --> review');
    expect(diagram).toContain(
      'precheck_electricity -- "if hasArrears" --> settleArrears_electricity',
    );
    expect(diagram).toContain('point of no return');
  });

  it('stands in the README exactly as the process definition renders it today', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(
      `\`\`\`mermaid\n${mermaidOf(jointTransferProcess(['electricity', 'water', 'gas']))}\`\`\``,
    );
  });
});
