import protobuf from 'protobufjs';

/**
 * The slice of Kubernetes' protobuf wire format the helm binary needs for its release storage (it talks
 * to Secrets with `application/vnd.kubernetes.protobuf` only). Field numbers follow
 * k8s.io/api/core/v1/generated.proto, k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto and
 * k8s.io/apimachinery/pkg/runtime/generated.proto; fields we do not model are skipped on decode.
 * Objects are converted to and from their JSON form, which is how the stand-in stores everything.
 */
const PROTO = `
syntax = "proto2";
package k8s;
message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message Unknown {
  optional TypeMeta typeMeta = 1;
  optional bytes raw = 2;
  optional string contentEncoding = 3;
  optional string contentType = 4;
}
message Time { optional int64 seconds = 1; optional int32 nanos = 2; }
message ObjectMeta {
  optional string name = 1;
  optional string generateName = 2;
  optional string namespace = 3;
  optional string uid = 5;
  optional string resourceVersion = 6;
  optional int64 generation = 7;
  optional Time creationTimestamp = 8;
  map<string, string> labels = 11;
  map<string, string> annotations = 12;
}
message ListMeta { optional string selfLink = 1; optional string resourceVersion = 2; optional string continue = 3; }
message Secret {
  optional ObjectMeta metadata = 1;
  map<string, bytes> data = 2;
  optional string type = 3;
  map<string, string> stringData = 4;
  optional bool immutable = 5;
}
message SecretList { optional ListMeta metadata = 1; repeated Secret items = 2; }
message StatusDetails { optional string name = 1; optional string group = 2; optional string kind = 3; }
message Status {
  optional ListMeta metadata = 1;
  optional string status = 2;
  optional string message = 3;
  optional string reason = 4;
  optional StatusDetails details = 5;
  optional int32 code = 6;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
const Unknown = root.lookupType('k8s.Unknown');
const Secret = root.lookupType('k8s.Secret');
const SecretList = root.lookupType('k8s.SecretList');
const Status = root.lookupType('k8s.Status');

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
/** Every protobuf body starts with this magic, then a runtime.Unknown. */
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Json = Record<string, any>;

function metaToProto(meta: Json | undefined): Json {
  const m: Json = {};
  if (!meta) return m;
  for (const k of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion'] as const)
    if (typeof meta[k] === 'string') m[k] = meta[k];
  if (typeof meta.generation === 'number') m.generation = meta.generation;
  if (typeof meta.creationTimestamp === 'string') {
    const ms = Date.parse(meta.creationTimestamp);
    if (!Number.isNaN(ms)) m.creationTimestamp = { seconds: Math.floor(ms / 1000), nanos: 0 };
  }
  if (meta.labels) m.labels = { ...meta.labels };
  if (meta.annotations) m.annotations = { ...meta.annotations };
  return m;
}

function metaFromProto(m: Json | undefined): Json {
  const meta: Json = {};
  if (!m) return meta;
  for (const k of ['name', 'generateName', 'namespace', 'uid', 'resourceVersion'] as const)
    if (m[k]) meta[k] = m[k];
  if (m.generation) meta.generation = Number(m.generation);
  if (m.creationTimestamp?.seconds !== undefined)
    meta.creationTimestamp = new Date(Number(m.creationTimestamp.seconds) * 1000)
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
  if (m.labels && Object.keys(m.labels).length) meta.labels = { ...m.labels };
  if (m.annotations && Object.keys(m.annotations).length) meta.annotations = { ...m.annotations };
  return meta;
}

function secretToProto(obj: Json): Json {
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries<string>(obj.data ?? {})) data[k] = Buffer.from(v, 'base64');
  const s: Json = { metadata: metaToProto(obj.metadata), data };
  if (typeof obj.type === 'string') s.type = obj.type;
  if (obj.stringData) s.stringData = { ...obj.stringData };
  if (typeof obj.immutable === 'boolean') s.immutable = obj.immutable;
  return s;
}

function secretFromProto(s: Json): Json {
  const obj: Json = { apiVersion: 'v1', kind: 'Secret', metadata: metaFromProto(s.metadata) };
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries<Uint8Array>(s.data ?? {})) data[k] = Buffer.from(v).toString('base64');
  if (Object.keys(data).length) obj.data = data;
  if (s.stringData && Object.keys(s.stringData).length) obj.stringData = { ...s.stringData };
  if (s.type) obj.type = s.type;
  if (s.immutable !== undefined && s.immutable !== null) obj.immutable = s.immutable;
  return obj;
}

function envelope(apiVersion: string, kind: string, raw: Uint8Array): Buffer {
  const unknown = Unknown.encode(
    Unknown.fromObject({ typeMeta: { apiVersion, kind }, raw, contentEncoding: '', contentType: '' }),
  ).finish();
  return Buffer.concat([MAGIC, unknown]);
}

/** True when the body carries the `k8s\0` protobuf magic. */
export function isProtobufBody(body: Buffer): boolean {
  return body.length >= 4 && body.subarray(0, 4).equals(MAGIC);
}

/** A protobuf request body (Secret only) as its JSON form; throws on anything else. */
export function decodeProtobufObject(body: Buffer): Json {
  if (!isProtobufBody(body)) throw new Error('missing k8s protobuf magic');
  const u = Unknown.toObject(Unknown.decode(body.subarray(4)), { defaults: false }) as Json;
  const kind = u.typeMeta?.kind;
  const raw: Uint8Array = u.raw ?? new Uint8Array();
  if (kind === 'Secret' || kind === undefined || kind === '') {
    // client-go leaves typeMeta empty for typed objects; the path says it is a Secret.
    return secretFromProto(Secret.toObject(Secret.decode(raw), { longs: Number, defaults: false }));
  }
  throw new Error(`protobuf decoding of ${kind} is not supported by the stand-in`);
}

/** Encodes a stored Secret, SecretList or Status (given in JSON form) as a protobuf response body. */
export function encodeProtobufObject(obj: Json): Buffer {
  switch (obj.kind) {
    case 'Secret':
      return envelope('v1', 'Secret', Secret.encode(Secret.fromObject(secretToProto(obj))).finish());
    case 'SecretList':
      return envelope(
        'v1',
        'SecretList',
        SecretList.encode(
          SecretList.fromObject({
            metadata: { resourceVersion: obj.metadata?.resourceVersion ?? '' },
            items: (obj.items ?? []).map(secretToProto),
          }),
        ).finish(),
      );
    case 'Status':
      return envelope(
        'v1',
        'Status',
        Status.encode(
          Status.fromObject({
            metadata: {},
            status: obj.status,
            message: obj.message,
            reason: obj.reason,
            details: obj.details ?? {},
            code: obj.code,
          }),
        ).finish(),
      );
    default:
      throw new Error(`protobuf encoding of ${obj.kind} is not supported by the stand-in`);
  }
}

/** Kinds the stand-in can answer in protobuf; others get JSON, which client-go always accepts too. */
export function canEncodeProtobuf(kind: unknown): boolean {
  return kind === 'Secret' || kind === 'SecretList' || kind === 'Status';
}
