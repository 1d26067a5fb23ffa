// What the frozen base's work rejects with when the run's AbortSignal (Ctrl-C) stops it:
// nothing is wrong, the user stopped it. train() catches ExtractionInterrupted (and so the
// calibration's too) and ends the run as interrupted before its first epoch.

export class ExtractionInterrupted extends Error {
  constructor(
    readonly split: string,
    message = `Feature extraction was interrupted in the ${split} split; the splits finished before it are cached.`,
  ) {
    super(message);
    this.name = 'ExtractionInterrupted';
  }
}

/**
 * Ctrl-C during int8 calibration: it stopped after the batch it was running, and nothing
 * of it was written (the calibration is cached only once complete), so the next int8 run
 * calibrates again from the start.
 */
export class CalibrationInterrupted extends ExtractionInterrupted {
  constructor(
    /** Training images the calibration had run on when it stopped, of `total`. */
    readonly images: number,
    readonly total: number,
  ) {
    super(
      'train',
      `int8 calibration was interrupted after ${images} of ${total} training images. Nothing of it was kept (no calibration-int8.json was written) and no features were extracted; feature splits cached by earlier runs are kept. The next int8 run calibrates again from the start.`,
    );
    this.name = 'CalibrationInterrupted';
  }
}
