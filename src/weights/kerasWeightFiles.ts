import { UserError } from '../errors.js';

/** A pretrained weights file Keras publishes, relative to the applications storage. */
export interface KerasWeightFile {
  /** The file name Keras uses (and caches under ~/.keras/models). */
  fileName: string;
  /** Folder under the storage base URL, e.g. "vgg16". */
  subdir: string;
  /** MD5 Keras checks the download against; undefined where Keras publishes none. */
  md5?: string;
  /** SHA-256 Keras checks the download against instead (Keras picks the algorithm by the hash's length). */
  sha256?: string;
  /**
   * Where Keras downloads the file from when that is not the usual storage (EfficientNet's
   * files sit at another bucket path). A mirror (TLKIT_WEIGHTS_URL) still serves <subdir>/<fileName>.
   */
  url?: string;
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

/** Keras `resnet.WEIGHTS_HASHES["resnet50"]` (MD5): with the top, without. */
export const RESNET50_MD5 = {
  top: '2cb95161c43110f7111970584f804107',
  notop: '4d473c1dd8becc155b73f8504c6f6626',
};

/** Keras `efficientnet.WEIGHTS_HASHES["b0"]` (MD5): with the top, without. */
export const EFFICIENTNET_B0_MD5 = {
  top: '902e53a9f72be733fc0bcb005b3ebbac',
  notop: '50bc09e76180e00e4465e1a485ddc09d',
};

/** Keras `convnext.WEIGHTS_HASHES["convnext_tiny"]` (SHA-256): with the top, without. */
export const CONVNEXT_TINY_SHA256 = {
  top: '8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff',
  notop: 'd547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1',
};

/** Keras's EfficientNet (v1) weights are not under the applications storage but at the bucket's root. */
export const EFFICIENTNET_WEIGHTS_URL = 'https://storage.googleapis.com/keras-applications/';

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
      return {
        fileName: `mobilenet_v2_weights_tf_dim_ordering_tf_kernels_${a}_${rows}${q.includeTop ? '' : '_no_top'}.h5`,
        subdir: 'mobilenet_v2',
      };
    }
    case 'resnet50':
      return q.includeTop
        ? { fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels.h5', subdir: 'resnet', md5: RESNET50_MD5.top }
        : { fileName: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5', subdir: 'resnet', md5: RESNET50_MD5.notop };
    case 'efficientnet_b0': {
      const fileName = q.includeTop ? 'efficientnetb0.h5' : 'efficientnetb0_notop.h5';
      return {
        fileName,
        subdir: 'efficientnet',
        md5: q.includeTop ? EFFICIENTNET_B0_MD5.top : EFFICIENTNET_B0_MD5.notop,
        url: `${EFFICIENTNET_WEIGHTS_URL}${fileName}`,
      };
    }
    case 'convnext_tiny':
      return q.includeTop
        ? { fileName: 'convnext_tiny.h5', subdir: 'convnext', sha256: CONVNEXT_TINY_SHA256.top }
        : { fileName: 'convnext_tiny_notop.h5', subdir: 'convnext', sha256: CONVNEXT_TINY_SHA256.notop };
    default:
      throw new UserError(`No Keras imagenet weights are known for the family "${q.family}"; use --weights none or give a .h5 file.`);
  }
}
