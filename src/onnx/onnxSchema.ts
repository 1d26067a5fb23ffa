import type { FieldSpec, Int64, Schema, ScalarKind } from './protobuf.js';

// ONNX's messages (onnx/onnx.proto, IR version 8) for the protobuf codec, and their
// types. Field names are onnx.proto's in camelCase. Repeated numbers are packed exactly
// where onnx.proto says [packed = true], so tlkit writes what onnx.save would.

/** TensorProto.DataType */
export const TensorDataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
} as const;

/** AttributeProto.AttributeType */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;

type Opt<T> = T | null | undefined;

export interface IStringStringEntryProto {
  key?: Opt<string>;
  value?: Opt<string>;
}
export interface IOperatorSetIdProto {
  domain?: Opt<string>;
  version?: Opt<Int64>;
}
export interface ITensorShapeDimension {
  dimValue?: Opt<Int64>;
  dimParam?: Opt<string>;
  denotation?: Opt<string>;
}
export interface ITensorShapeProto {
  dim?: Opt<ITensorShapeDimension[]>;
}
export interface ITypeProto {
  tensorType?: Opt<{ elemType?: Opt<number>; shape?: Opt<ITensorShapeProto> }>;
  sequenceType?: Opt<{ elemType?: Opt<ITypeProto> }>;
  mapType?: Opt<{ keyType?: Opt<number>; valueType?: Opt<ITypeProto> }>;
  denotation?: Opt<string>;
  sparseTensorType?: Opt<{ elemType?: Opt<number>; shape?: Opt<ITensorShapeProto> }>;
  optionalType?: Opt<{ elemType?: Opt<ITypeProto> }>;
}
export interface IValueInfoProto {
  name?: Opt<string>;
  type?: Opt<ITypeProto>;
  docString?: Opt<string>;
}
export interface ITensorProto {
  dims?: Opt<Int64[]>;
  dataType?: Opt<number>;
  segment?: Opt<{ begin?: Opt<Int64>; end?: Opt<Int64> }>;
  floatData?: Opt<ArrayLike<number>>;
  int32Data?: Opt<ArrayLike<number>>;
  stringData?: Opt<Uint8Array[]>;
  int64Data?: Opt<Int64[]>;
  name?: Opt<string>;
  rawData?: Opt<Uint8Array>;
  doubleData?: Opt<ArrayLike<number>>;
  uint64Data?: Opt<Int64[]>;
  docString?: Opt<string>;
  externalData?: Opt<IStringStringEntryProto[]>;
  dataLocation?: Opt<number>;
}
export interface ISparseTensorProto {
  values?: Opt<ITensorProto>;
  indices?: Opt<ITensorProto>;
  dims?: Opt<Int64[]>;
}
export interface IAttributeProto {
  name?: Opt<string>;
  f?: Opt<number>;
  i?: Opt<Int64>;
  s?: Opt<Uint8Array>;
  t?: Opt<ITensorProto>;
  g?: Opt<IGraphProto>;
  floats?: Opt<number[]>;
  ints?: Opt<Int64[]>;
  strings?: Opt<Uint8Array[]>;
  tensors?: Opt<ITensorProto[]>;
  graphs?: Opt<IGraphProto[]>;
  docString?: Opt<string>;
  tp?: Opt<ITypeProto>;
  typeProtos?: Opt<ITypeProto[]>;
  type?: Opt<number>;
  refAttrName?: Opt<string>;
  sparseTensor?: Opt<ISparseTensorProto>;
  sparseTensors?: Opt<ISparseTensorProto[]>;
}
export interface INodeProto {
  input?: Opt<string[]>;
  output?: Opt<string[]>;
  name?: Opt<string>;
  opType?: Opt<string>;
  attribute?: Opt<IAttributeProto[]>;
  docString?: Opt<string>;
  domain?: Opt<string>;
}
export interface ITensorAnnotation {
  tensorName?: Opt<string>;
  quantParameterTensorNames?: Opt<IStringStringEntryProto[]>;
}
export interface IGraphProto {
  node?: Opt<INodeProto[]>;
  name?: Opt<string>;
  initializer?: Opt<ITensorProto[]>;
  docString?: Opt<string>;
  input?: Opt<IValueInfoProto[]>;
  output?: Opt<IValueInfoProto[]>;
  valueInfo?: Opt<IValueInfoProto[]>;
  quantizationAnnotation?: Opt<ITensorAnnotation[]>;
  sparseInitializer?: Opt<ISparseTensorProto[]>;
}
export interface ITrainingInfoProto {
  initialization?: Opt<IGraphProto>;
  algorithm?: Opt<IGraphProto>;
  initializationBinding?: Opt<IStringStringEntryProto[]>;
  updateBinding?: Opt<IStringStringEntryProto[]>;
}
export interface IFunctionProto {
  name?: Opt<string>;
  input?: Opt<string[]>;
  output?: Opt<string[]>;
  attribute?: Opt<string[]>;
  node?: Opt<INodeProto[]>;
  docString?: Opt<string>;
  opsetImport?: Opt<IOperatorSetIdProto[]>;
  domain?: Opt<string>;
}
export interface IModelProto {
  irVersion?: Opt<Int64>;
  producerName?: Opt<string>;
  producerVersion?: Opt<string>;
  domain?: Opt<string>;
  modelVersion?: Opt<Int64>;
  docString?: Opt<string>;
  graph?: Opt<IGraphProto>;
  opsetImport?: Opt<IOperatorSetIdProto[]>;
  metadataProps?: Opt<IStringStringEntryProto[]>;
  trainingInfo?: Opt<ITrainingInfoProto[]>;
  functions?: Opt<IFunctionProto[]>;
}

/** A decoded model: its repeated fields are always arrays (absent ones empty). */
export type ModelProto = IModelProto & {
  opsetImport: IOperatorSetIdProto[];
  metadataProps: IStringStringEntryProto[];
  trainingInfo: ITrainingInfoProto[];
  functions: IFunctionProto[];
};

// [number, name, kind, flags]: 'r' repeated, 'p' repeated and packed.
type Row = [number, string, ScalarKind | { message: string }, ('r' | 'p')?];
const m = (message: string) => ({ message });
const rows = (list: Row[]): FieldSpec[] =>
  list.map(([no, name, kind, flag]) => ({ no, name, kind, repeated: flag !== undefined, packed: flag === 'p' }));

export const ONNX_SCHEMA: Schema = {
  AttributeProto: rows([
    [1, 'name', 'string'],
    [2, 'f', 'float'],
    [3, 'i', 'int64'],
    [4, 's', 'bytes'],
    [5, 't', m('TensorProto')],
    [6, 'g', m('GraphProto')],
    [7, 'floats', 'float', 'r'],
    [8, 'ints', 'int64', 'r'],
    [9, 'strings', 'bytes', 'r'],
    [10, 'tensors', m('TensorProto'), 'r'],
    [11, 'graphs', m('GraphProto'), 'r'],
    [13, 'docString', 'string'],
    [14, 'tp', m('TypeProto')],
    [15, 'typeProtos', m('TypeProto'), 'r'],
    [20, 'type', 'int32'],
    [21, 'refAttrName', 'string'],
    [22, 'sparseTensor', m('SparseTensorProto')],
    [23, 'sparseTensors', m('SparseTensorProto'), 'r'],
  ]),
  ValueInfoProto: rows([
    [1, 'name', 'string'],
    [2, 'type', m('TypeProto')],
    [3, 'docString', 'string'],
  ]),
  NodeProto: rows([
    [1, 'input', 'string', 'r'],
    [2, 'output', 'string', 'r'],
    [3, 'name', 'string'],
    [4, 'opType', 'string'],
    [5, 'attribute', m('AttributeProto'), 'r'],
    [6, 'docString', 'string'],
    [7, 'domain', 'string'],
  ]),
  TrainingInfoProto: rows([
    [1, 'initialization', m('GraphProto')],
    [2, 'algorithm', m('GraphProto')],
    [3, 'initializationBinding', m('StringStringEntryProto'), 'r'],
    [4, 'updateBinding', m('StringStringEntryProto'), 'r'],
  ]),
  ModelProto: rows([
    [1, 'irVersion', 'int64'],
    [2, 'producerName', 'string'],
    [3, 'producerVersion', 'string'],
    [4, 'domain', 'string'],
    [5, 'modelVersion', 'int64'],
    [6, 'docString', 'string'],
    [7, 'graph', m('GraphProto')],
    [8, 'opsetImport', m('OperatorSetIdProto'), 'r'],
    [14, 'metadataProps', m('StringStringEntryProto'), 'r'],
    [20, 'trainingInfo', m('TrainingInfoProto'), 'r'],
    [25, 'functions', m('FunctionProto'), 'r'],
  ]),
  StringStringEntryProto: rows([
    [1, 'key', 'string'],
    [2, 'value', 'string'],
  ]),
  TensorAnnotation: rows([
    [1, 'tensorName', 'string'],
    [2, 'quantParameterTensorNames', m('StringStringEntryProto'), 'r'],
  ]),
  GraphProto: rows([
    [1, 'node', m('NodeProto'), 'r'],
    [2, 'name', 'string'],
    [5, 'initializer', m('TensorProto'), 'r'],
    [10, 'docString', 'string'],
    [11, 'input', m('ValueInfoProto'), 'r'],
    [12, 'output', m('ValueInfoProto'), 'r'],
    [13, 'valueInfo', m('ValueInfoProto'), 'r'],
    [14, 'quantizationAnnotation', m('TensorAnnotation'), 'r'],
    [15, 'sparseInitializer', m('SparseTensorProto'), 'r'],
  ]),
  TensorProto: rows([
    [1, 'dims', 'int64', 'r'],
    [2, 'dataType', 'int32'],
    [3, 'segment', m('TensorProtoSegment')],
    [4, 'floatData', 'float', 'p'],
    [5, 'int32Data', 'int32', 'p'],
    [6, 'stringData', 'bytes', 'r'],
    [7, 'int64Data', 'int64', 'p'],
    [8, 'name', 'string'],
    [9, 'rawData', 'bytes'],
    [10, 'doubleData', 'double', 'p'],
    [11, 'uint64Data', 'uint64', 'p'],
    [12, 'docString', 'string'],
    [13, 'externalData', m('StringStringEntryProto'), 'r'],
    [14, 'dataLocation', 'int32'],
  ]),
  TensorProtoSegment: rows([
    [1, 'begin', 'int64'],
    [2, 'end', 'int64'],
  ]),
  SparseTensorProto: rows([
    [1, 'values', m('TensorProto')],
    [2, 'indices', m('TensorProto')],
    [3, 'dims', 'int64', 'r'],
  ]),
  TensorShapeProto: rows([[1, 'dim', m('TensorShapeDimension'), 'r']]),
  TensorShapeDimension: rows([
    [1, 'dimValue', 'int64'],
    [2, 'dimParam', 'string'],
    [3, 'denotation', 'string'],
  ]),
  TypeProto: rows([
    [1, 'tensorType', m('TypeProtoTensor')],
    [4, 'sequenceType', m('TypeProtoSequence')],
    [5, 'mapType', m('TypeProtoMap')],
    [6, 'denotation', 'string'],
    [8, 'sparseTensorType', m('TypeProtoTensor')],
    [9, 'optionalType', m('TypeProtoSequence')],
  ]),
  // TypeProto.Tensor and TypeProto.SparseTensor have the same fields, as do Sequence and Optional.
  TypeProtoTensor: rows([
    [1, 'elemType', 'int32'],
    [2, 'shape', m('TensorShapeProto')],
  ]),
  TypeProtoSequence: rows([[1, 'elemType', m('TypeProto')]]),
  TypeProtoMap: rows([
    [1, 'keyType', 'int32'],
    [2, 'valueType', m('TypeProto')],
  ]),
  OperatorSetIdProto: rows([
    [1, 'domain', 'string'],
    [2, 'version', 'int64'],
  ]),
  FunctionProto: rows([
    [1, 'name', 'string'],
    [4, 'input', 'string', 'r'],
    [5, 'output', 'string', 'r'],
    [6, 'attribute', 'string', 'r'],
    [7, 'node', m('NodeProto'), 'r'],
    [8, 'docString', 'string'],
    [9, 'opsetImport', m('OperatorSetIdProto'), 'r'],
    [10, 'domain', 'string'],
  ]),
};
