import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseWinner } from '../../pipelines/lease.js';

test('the holder keeps the lease when others join', () => {
  assert.equal(
    leaseWinner([
      { memberId: 'a', since: null },
      { memberId: 'z', since: 1000 },
      { memberId: 'b', since: null },
    ]),
    'z',
  );
});

test('a holder that froze and came back loses to the standby that replaced it', () => {
  assert.equal(
    leaseWinner([
      { memberId: 'old', since: 1000 },
      { memberId: 'new', since: 5000 },
    ]),
    'new',
  );
});

test('without a claim the first member id gets it; an empty group gets nobody', () => {
  assert.equal(
    leaseWinner([
      { memberId: 'm2', since: null },
      { memberId: 'm1', since: null },
    ]),
    'm1',
  );
  assert.equal(leaseWinner([]), undefined);
});
