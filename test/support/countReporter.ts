// Prints the plain closing line CI reads ("N passed, N failed"), and fails the run when an
// integration test was skipped: the integration suite exists to prove the real stack.
import type { Reporter, TestModule } from 'vitest/node';

export default class CountReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const skippedIntegration: string[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          if (module.project.name === 'integration') skippedIntegration.push(test.fullName);
        }
      }
    }
    if (skippedIntegration.length > 0) {
      console.error(
        `integration tests were skipped, which CI does not accept:\n  ${skippedIntegration.join('\n  ')}`,
      );
      process.exitCode = 1;
    }
    console.log(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
