/**
 * Shard names in split commands: part of the contract between the decide stage, which names a
 * split's new shard ahead of time so later commands of the same round can refer to it, and the
 * PostgreSQL executor, which names it when the command leaves `newShard` out. Both must agree.
 */

/** The first free `s<n>`, n counting up from the number of names taken. */
export function firstFreeShardName(taken: ReadonlySet<string>): string {
  let n = taken.size;
  while (taken.has(`s${n}`)) n++;
  return `s${n}`;
}
