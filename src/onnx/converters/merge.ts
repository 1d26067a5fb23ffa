import type { GraphBuilder, Value } from '../graphBuilder.js';
import { configOf, unsupported, type Converter } from './types.js';

/** Put every input in one layout: channels-first if any rank-4 input already is. */
function aligned(b: GraphBuilder, inputs: Value[]): Value[] {
  const nchw = inputs.some((v) => v.nchw);
  return inputs.map((v) => (nchw ? b.asNchw(v) : b.asKeras(v)));
}

function chain(opType: string): Converter {
  return (b, layer, inputs, outputShapes) => {
    if (inputs.length < 2) throw unsupported(layer, `${inputs.length} input(s)`);
    const xs = aligned(b, inputs);
    let acc = xs[0].name;
    for (let i = 1; i < xs.length; i++) {
      acc = b.op(opType, [acc, xs[i].name], i === xs.length - 1 ? layer.name : `${layer.name}/${i}`);
    }
    return [{ name: acc, shape: outputShapes[0], nchw: xs[0].nchw }];
  };
}

function variadic(opType: string): Converter {
  return (b, layer, inputs, outputShapes) => {
    const xs = aligned(b, inputs);
    return [
      {
        name: b.op(
          opType,
          xs.map((v) => v.name),
          layer.name,
        ),
        shape: outputShapes[0],
        nchw: xs[0].nchw,
      },
    ];
  };
}

export const add = chain('Add');
export const multiply = chain('Mul');
export const average = variadic('Mean');
export const maximum = variadic('Max');
export const minimum = variadic('Min');

export const concatenate: Converter = (b, layer, inputs, outputShapes) => {
  const xs = aligned(b, inputs);
  const axis = (configOf(layer).axis as number | undefined) ?? -1;
  return [
    {
      name: b.op(
        'Concat',
        xs.map((v) => v.name),
        layer.name,
        { axis: b.storedAxis(xs[0], axis) },
      ),
      shape: outputShapes[0],
      nchw: xs[0].nchw,
    },
  ];
};
