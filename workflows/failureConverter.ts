// Loaded by the worker and the workflow bundle (failureConverterPath): failure messages and
// stack traces are encoded as payloads, so the payload codec encrypts them too.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
