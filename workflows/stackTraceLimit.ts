// Preloaded into the workflow sandbox while workflow stack traces are off (the default; see
// `sandboxOptions` in cli/workers.ts). For its `__stack_trace` query the SDK takes and
// source-maps a stack for every promise a workflow makes, whether or not anyone asks
// (sdk-typescript issue #1587): with V8's default of 10 frames that cost a replayed clean case
// 60 ms of CPU against 40 ms with none (README, "Cases"). V8 reads the limit from the realm's
// own `Error`, so this sets it in the sandbox alone; it runs before the SDK freezes the
// sandbox's globals, which is what the bundler's `preloadModules` is for. Preloaded modules run
// only in the SDK's reusable V8 context (`reuseV8Context`, its default, which the workers
// keep): with `reuseV8Context: false` this would never run. Without frames the query answers
// with frameless stacks ("Error") and an error raised in workflow code carries its message
// alone; ONEWINDOW_WORKFLOW_STACK_TRACES=on keeps them while a stuck case is looked into.
Error.stackTraceLimit = 0;

export {};
