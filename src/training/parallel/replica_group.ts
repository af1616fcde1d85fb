/**
 * Sums across the replicas of a data-parallel step through shared memory, for
 * synchronous batch norm (see src/kernels/replica_sums.ts): each replica writes its values
 * into its own slot, waits at a barrier until every replica has, then adds all slots in
 * replica order, so that every replica gets the same bits. The wait blocks the thread
 * (Atomics.wait): the sums are needed in the middle of a synchronous forward or backward
 * pass.
 *
 * Two banks of slots alternate from call to call, so one barrier per call suffices: a
 * replica can write a bank again only after every replica has passed the next call's
 * barrier, that is, has finished reading the bank. A replica that fails marks the group
 * aborted, so that the others stop waiting and fail too.
 */
import { ReplicaSums } from '../../kernels/replica_sums';

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;
/** How many replicas take part in the current step (a small batch may leave some idle). */
const PARTICIPANTS = 3;
const CONTROL_BYTES = 16;
/** How long one wait lasts before the waiter looks again for an abort. */
const WAIT_SLICE_MS = 200;
/** How long a replica waits for one that died without a word (a crashed worker cannot abort the group). */
export const REPLICA_TIMEOUT_MS = 10 * 60 * 1000;

/** The shared memory of a group and its size, as the step runner hands it to the workers. */
export interface ReplicaGroupShape {
  buffer: SharedArrayBuffer;
  replicas: number;
  /** The most values one call may sum. */
  capacity: number;
}

/** Allocates a group's shared memory. */
export function createReplicaGroup(replicas: number, capacity: number): ReplicaGroupShape {
  const buffer = new SharedArrayBuffer(CONTROL_BYTES + 2 * replicas * capacity * 8);
  return { buffer, replicas, capacity };
}

/** Ready for a step of `participants` replicas (0 .. participants - 1). Only while no replica is computing. */
export function resetReplicaGroup(group: ReplicaGroupShape, participants: number): void {
  const control = new Int32Array(group.buffer, 0, 4);
  Atomics.store(control, ARRIVED, 0);
  Atomics.store(control, ABORTED, 0);
  Atomics.store(control, PARTICIPANTS, participants);
}

/** Marks the group aborted and wakes every waiting replica. */
export function abortReplicaGroup(group: ReplicaGroupShape): void {
  const control = new Int32Array(group.buffer, 0, 4);
  Atomics.store(control, ABORTED, 1);
  Atomics.notify(control, GENERATION);
}

/**
 * Replica `index`'s side of the group for one step, in which its shard is `share` of the
 * batch. `timeoutMs` bounds a wait for a replica that died without aborting the group.
 */
export function replicaMember(group: ReplicaGroupShape, index: number, share: number, timeoutMs: number): ReplicaSums {
  const control = new Int32Array(group.buffer, 0, 4);
  const slots = new Float64Array(group.buffer, CONTROL_BYTES);
  const participants = Atomics.load(control, PARTICIPANTS);
  let call = 0;

  const barrier = (): void => {
    const generation = Atomics.load(control, GENERATION);
    if (Atomics.add(control, ARRIVED, 1) === participants - 1) {
      Atomics.store(control, ARRIVED, 0);
      Atomics.add(control, GENERATION, 1);
      Atomics.notify(control, GENERATION);
      return;
    }
    const deadline = Date.now() + timeoutMs;
    while (Atomics.load(control, GENERATION) === generation) {
      if (Atomics.load(control, ABORTED) !== 0) throw new Error('another replica of the data-parallel step failed');
      if (Date.now() > deadline) throw new Error(`a replica of the data-parallel step did not answer within ${timeoutMs / 1000} s`);
      Atomics.wait(control, GENERATION, generation, WAIT_SLICE_MS);
    }
  };

  return {
    share,
    sum(values: Float64Array): Float64Array {
      if (values.length > group.capacity) {
        throw new Error(`replica sums of ${values.length} values exceed the group's capacity of ${group.capacity}`);
      }
      const bank = (call++ % 2) * group.replicas * group.capacity;
      slots.set(values, bank + index * group.capacity);
      barrier();
      const total = new Float64Array(values.length);
      for (let replica = 0; replica < participants; replica++) {
        const slot = bank + replica * group.capacity;
        for (let i = 0; i < values.length; i++) total[i] += slots[slot + i];
      }
      return total;
    },
  };
}
