// The schema types and wire-format constants shared by the protobuf encoder
// (protobufEncode.ts) and decoder (protobuf.ts).

export type ScalarKind = 'int32' | 'int64' | 'uint64' | 'float' | 'double' | 'string' | 'bytes';

export interface FieldSpec {
  no: number;
  name: string;
  /** A scalar kind, or the name of a message in the same schema. */
  kind: ScalarKind | { message: string };
  repeated?: boolean;
  /** Repeated numbers written as one length-delimited run (reading accepts both forms). */
  packed?: boolean;
}

export type Schema = Record<string, FieldSpec[]>;

/** int64 values within ±2^53 read as numbers; larger ones as bigint, so none loses a bit. */
export type Int64 = number | bigint;

export const UNKNOWN = Symbol('unknown protobuf fields');
export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

export function wireOf(kind: FieldSpec['kind']): number {
  if (typeof kind !== 'string' || kind === 'string' || kind === 'bytes') return WIRE.bytes;
  if (kind === 'float') return WIRE.fixed32;
  if (kind === 'double') return WIRE.fixed64;
  return WIRE.varint;
}

export type Message = Record<string, unknown> & { [UNKNOWN]?: Uint8Array[] };

/** A schema compiled once: fields sorted by number, looked up by number, and each message's defaults. */
export class Compiled {
  readonly fields = new Map<string, FieldSpec[]>();
  readonly byNumber = new Map<string, Map<number, FieldSpec>>();
  readonly prototypes = new Map<string, object>();

  constructor(schema: Schema) {
    for (const [name, fields] of Object.entries(schema)) {
      const sorted = [...fields].sort((a, b) => a.no - b.no);
      this.fields.set(name, sorted);
      this.byNumber.set(name, new Map(sorted.map((f) => [f.no, f])));
      // What an absent field reads as (protobuf's defaults): present fields are own properties.
      const proto: Record<string, unknown> = {};
      for (const f of sorted) if (!f.repeated) proto[f.name] = defaultOf(f.kind);
      this.prototypes.set(name, proto);
    }
    for (const [name, fields] of this.fields)
      for (const f of fields)
        if (typeof f.kind !== 'string' && !this.fields.has(f.kind.message))
          throw new Error(`protobuf schema: ${name}.${f.name} names unknown message ${f.kind.message}`);
  }
}

function defaultOf(kind: FieldSpec['kind']): unknown {
  if (typeof kind !== 'string') return null;
  if (kind === 'string') return '';
  if (kind === 'bytes') return new Uint8Array(0);
  return 0;
}
