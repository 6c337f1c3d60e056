/**
 * A stage busy with a long step queues the assignments that arrive meanwhile; only the newest is
 * applied (pipelines/partitionedStage.ts): an older one would take over partitions this member
 * no longer owns and fence their owners. The first test wires `assignmentGenerations` as the
 * stage does (numbered on arrival, checked in one concatMap); the stage itself is exercised on
 * the broker by the scale-out tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subject, concatMap, lastValueFrom, map, merge, toArray } from 'rxjs';
import { assignmentGenerations } from '../../pipelines/partitionedStage.js';

test('assignments queued behind a long step: only the newest is applied', async () => {
  const generations = assignmentGenerations();
  const assignments = new Subject<number[]>();
  const work = new Subject<number>();
  const applied: number[][] = [];
  const done = lastValueFrom(
    merge(assignments.pipe(map((assigned) => ({ assigned, generation: generations.arrived() }))), work.pipe(map((ms) => ({ ms })))).pipe(
      concatMap(async (s) => {
        if ('ms' in s) await sleep(s.ms);
        else if (!generations.superseded(s.generation)) applied.push(s.assigned);
        return s;
      }),
      toArray(),
    ),
  );
  assignments.next([0, 1, 2]);
  await sleep(5);
  work.next(50); // a long step: the next two assignments wait behind it
  assignments.next([0, 1]);
  assignments.next([2]);
  await sleep(80);
  assignments.next([1, 2]);
  assignments.complete();
  work.complete();
  const steps = await done;
  assert.equal(steps.length, 5, 'every step ran');
  assert.deepEqual(applied, [[0, 1, 2], [2], [1, 2]], 'the assignment superseded while it waited ([0, 1]) was skipped');
});

test('a generation is superseded only by a later arrival', () => {
  const g = assignmentGenerations();
  const a = g.arrived();
  assert.equal(g.superseded(a), false);
  const b = g.arrived();
  assert.equal(g.superseded(a), true);
  assert.equal(g.superseded(b), false);
});
