import { UserError } from '../errors.js';

/** A pretrained weights file Keras publishes, relative to the applications storage. */
export interface KerasWeightFile {
  /** The file name Keras uses (and caches under ~/.keras/models). */
  fileName: string;
  /** Folder under the storage base URL, e.g. "vgg16". */
  subdir: string;
  /** MD5 Keras checks the download against; undefined where Keras publishes none. */
  md5?: string;
}

export interface WeightFileQuery {
  family: string;
  includeTop: boolean;
  /** Width multiplier of the MobileNets (default 1.0). */
  alpha?: number;
  /** Square input size the weights were trained at (MobileNets; default 224). */
  rows?: number;
}

/** Keras's public storage of the applications weights; TLKIT_WEIGHTS_URL overrides it. */
export const KERAS_WEIGHTS_BASE_URL = 'https://storage.googleapis.com/tensorflow/keras-applications/';

/** MD5s from the Keras sources (applications/vgg16.py); the MobileNet files have none there. */
export const VGG16_MD5 = {
  top: '64373286793e3c8b2b4e3219cbf3544b',
  notop: '6d6bbae143d832006294945121d1f1fc',
};

function mobilenetAlphaText(alpha: number): string {
  const texts: Record<string, string> = { '1': '1_0', '0.75': '7_5', '0.5': '5_0', '0.25': '2_5' };
  const t = texts[String(alpha)];
  if (!t) throw new UserError(`mobilenet: Keras publishes imagenet weights for alpha 0.25, 0.5, 0.75 and 1.0 only, got ${alpha}.`);
  return t;
}

/** Python's str(float(x)): 1 -> "1.0", 0.35 -> "0.35". */
function pyFloat(x: number): string {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/** The Keras file name, folder and MD5 of the imagenet weights for a family and configuration. */
export function kerasWeightFile(q: WeightFileQuery): KerasWeightFile {
  switch (q.family) {
    case 'vgg16':
      return q.includeTop
        ? { fileName: 'vgg16_weights_tf_dim_ordering_tf_kernels.h5', subdir: 'vgg16', md5: VGG16_MD5.top }
        : { fileName: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5', subdir: 'vgg16', md5: VGG16_MD5.notop };
    case 'mobilenet': {
      const a = mobilenetAlphaText(q.alpha ?? 1.0);
      const rows = q.rows ?? 224;
      return { fileName: `mobilenet_${a}_${rows}_tf${q.includeTop ? '' : '_no_top'}.h5`, subdir: 'mobilenet' };
    }
    case 'mobilenet_v2': {
      const rows = q.rows ?? 224;
      const a = pyFloat(q.alpha ?? 1.0);
      return { fileName: `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${a}_${rows}${q.includeTop ? '' : '_no_top'}.h5`, subdir: 'mobilenet_v2' };
    }
    default:
      throw new UserError(`No Keras imagenet weights are known for the family "${q.family}"; use --weights none or give a .h5 file.`);
  }
}
