export { ModelCheckpoint, type ModelCheckpointArgs } from './modelCheckpoint.js';
export { EarlyStopping, type EarlyStoppingArgs } from './earlyStopping.js';
export { CSVLogger, type CSVLoggerArgs } from './csvLogger.js';
export { ProgressLogger, type ProgressLoggerArgs, formatEpochLine } from './progressLogger.js';
export { HistoryRecorder, type HistoryRecorderArgs } from './history.js';
export { DivergenceGuard } from './divergenceGuard.js';
export { TerminateOnNaN } from './terminateOnNaN.js';
export { StopOnAbort } from './interrupt.js';
export { BackupAndRestore } from './backupAndRestore.js';
