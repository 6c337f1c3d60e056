/**
 * The view after a command has finished: each action's own change (its `apply` in the action
 * registry). The simulator uses the same function, so the planner's idea of a command and the
 * simulated cluster cannot drift apart. Kept apart from state.ts because the action modules
 * build on state.ts, and this looks them up.
 */
import { StateError } from '../../lib/errors.js';
import type { AnyCommand } from '../../schemas/types.js';
import type { ApplyContext } from './actions/common.js';
import { applyOf } from './actions/registry.js';
import { type ClusterState, buildState, toInput } from './state.js';

/**
 * Actions without a change of their own (schema adaptation, precomputation) leave the view as
 * it is. Throws StateError when the command does not fit the view, which is what an executor's
 * validation would reject.
 */
export function applyCommand(s: ClusterState, cmd: AnyCommand): ClusterState {
  const input = toInput(s);
  const cx: ApplyContext = {
    state: s,
    input,
    part(id) {
      const p = id === null ? undefined : s.partitionById.get(id);
      if (!p) throw new StateError(`${cmd.action}: unknown partition ${id}`);
      return p;
    },
    node(id) {
      const n = id === null ? undefined : s.nodeById.get(id);
      if (!n) throw new StateError(`${cmd.action}: unknown node ${id}`);
      return n;
    },
    replace(id, next) {
      const i = input.partitions.findIndex((p) => p.id === id);
      input.partitions.splice(i, 1, ...next);
    },
  };
  applyOf(cmd)?.(cx, cmd);
  return buildState(input);
}
