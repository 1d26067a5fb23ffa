import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

type Initializer = ReturnType<typeof tfl.initializers.zeros>;
type InitializerLike = Parameters<typeof tfl.layers.conv2d>[0]['kernelInitializer'];

export interface GroupedConv2DArgs {
  /** Output channels: a multiple of `groups`. */
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  /** 'valid' (default) or 'same', as in Keras. */
  padding?: 'valid' | 'same';
  /** Number of channel groups. Only groups == input channels is supported (one input channel a group: a depthwise convolution). */
  groups: number;
  /** Default true. */
  useBias?: boolean;
  /** Default glorotUniform (Keras). */
  kernelInitializer?: InitializerLike;
  /** Default zeros. */
  biasInitializer?: InitializerLike;
  name?: string;
  trainable?: boolean;
}

function pair(v: number | number[]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
}

/**
 * Keras `Conv2D(..., groups=G)` where every group reads one input channel, as
 * ConvNeXt's 7x7 convolutions are: Keras's layer and kernel layout
 * ([kh, kw, 1, filters]), computed as a depthwise convolution (tfjs-layers'
 * Conv2D has no groups). Output channel g * (filters / G) + q reads input
 * channel g, which is the depthwise order, so the kernel is only reshaped.
 * Summaries report it as Keras does: a Conv2D.
 */
export class GroupedConv2D extends tfl.layers.Layer {
  static className = 'GroupedConv2D';
  /** The class Keras has for this layer (what summaries print). */
  static kerasClassName = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: 'valid' | 'same';
  readonly groups: number;
  readonly useBias: boolean;
  private readonly kernelInitializer: Initializer;
  private readonly biasInitializer: Initializer;
  private kernel?: tfl.LayerVariable;
  private bias?: tfl.LayerVariable;

  constructor(args: GroupedConv2DArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize);
    this.strides = pair(args.strides ?? 1);
    this.padding = args.padding ?? 'valid';
    this.groups = args.groups;
    this.useBias = args.useBias ?? true;
    if (!Number.isInteger(this.filters / this.groups))
      throw new Error(`GroupedConv2D: filters (${this.filters}) must be a multiple of groups (${this.groups})`);
    this.kernelInitializer = toInitializer(args.kernelInitializer, 'glorotUniform');
    this.biasInitializer = toInitializer(args.biasInitializer, 'zeros');
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const channels = shape[3];
    if (channels !== this.groups) {
      throw new Error(
        `GroupedConv2D '${this.name}': only one input channel per group is supported (groups ${this.groups}, input channels ${channels})`,
      );
    }
    const [kh, kw] = this.kernelSize;
    this.kernel = this.addWeight('kernel', [kh, kw, 1, this.filters], 'float32', this.kernelInitializer, undefined, true);
    if (this.useBias) this.bias = this.addWeight('bias', [this.filters], 'float32', this.biasInitializer, undefined, true);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [kh, kw] = this.kernelSize;
      const filter = tf.reshape(this.kernel!.read(), [kh, kw, this.groups, this.filters / this.groups]) as tf.Tensor4D;
      const y = tf.depthwiseConv2d(x, filter, this.strides, this.padding);
      return this.bias ? tf.add(y, this.bias.read()) : y;
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const out = (size: number | null, k: number, s: number): number | null => {
      if (size === null) return null;
      return this.padding === 'same' ? Math.ceil(size / s) : Math.ceil((size - k + 1) / s);
    };
    return [shape[0], out(shape[1], this.kernelSize[0], this.strides[0]), out(shape[2], this.kernelSize[1], this.strides[1]), this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      groups: this.groups,
      useBias: this.useBias,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
tf.serialization.registerClass(GroupedConv2D);

type Serialized = { className: string; config: tf.serialization.ConfigDict };

function serializeInitializer(init: Initializer): tf.serialization.ConfigDict {
  return { className: init.getClassName(), config: init.getConfig() } as unknown as tf.serialization.ConfigDict;
}

/** An initializer from a name ('glorotUniform'), an instance, or a serialised {className, config} (a saved model's config). */
function toInitializer(value: InitializerLike | undefined, fallback: string): Initializer {
  const factories = tfl.initializers as unknown as Record<string, (a?: object) => Initializer>;
  if (value === undefined || value === null) return factories[fallback]({});
  if (typeof value === 'string') {
    const factory = factories[value];
    if (!factory) throw new Error(`GroupedConv2D: unknown initializer '${value}'`);
    return factory({});
  }
  if (typeof (value as { apply?: unknown }).apply === 'function') return value as Initializer;
  const { className, config } = value as unknown as Serialized;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`GroupedConv2D: unknown initializer class '${className}'`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as unknown as Initializer;
}
