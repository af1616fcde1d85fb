/**
 * Initialiser arguments for this package's custom layers, in every form tfjs-layers'
 * own layers accept, and back to the form their configs serialize to.
 */
import * as tf from '@tensorflow/tfjs';
import { InvalidInputError } from '../errors';

export type Initializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * An initialiser instance, its identifier as tf.layers takes it ('zeros', 'glorotUniform',
 * 'heNormal', ...) or its serialized form { className, config } (as getConfig writes it).
 */
export type InitializerSpec = Initializer | string | tf.serialization.ConfigDict;

type InitializerFactory = (args: object) => Initializer;

/** Resolves `spec` (or `fallback` when it is undefined); `what` names the argument in errors. */
export function toInitializer(spec: InitializerSpec | undefined, fallback: () => Initializer, what: string): Initializer {
  if (spec === undefined) return fallback();
  if (spec instanceof tf.serialization.Serializable) return spec as Initializer;
  if (typeof spec === 'string') {
    const factory = (tf.initializers as unknown as Record<string, InitializerFactory | undefined>)[spec];
    if (typeof factory !== 'function') throw new InvalidInputError(`${what}: unknown initializer '${spec}'`);
    return factory({});
  }
  const className = spec.className;
  const entry = typeof className === 'string' ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  if (entry === undefined) throw new InvalidInputError(`${what}: unknown initializer ${JSON.stringify(spec)}`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, (spec.config ?? {}) as tf.serialization.ConfigDict) as Initializer;
}

/** The serialized form { className, config } that `toInitializer` reads back. */
export function initializerConfig(initializer: Initializer): tf.serialization.ConfigDict {
  return { className: initializer.getClassName(), config: initializer.getConfig() };
}
