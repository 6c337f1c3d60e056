/**
 * Batches handled concurrently, committed in order: each batch's work gets a promise that
 * settles when every earlier batch has committed, and rejects if an earlier one failed, so a
 * batch never commits offsets past a batch that was not handled.
 */
export class CommitChain {
  private last: Promise<void> = Promise.resolve();

  /**
   * Runs `work` for the next batch (in call order). `work` awaits `earlier` right before it
   * commits; its own success then releases the batch after it.
   */
  run<T>(work: (earlier: Promise<void>) => Promise<T>): Promise<T> {
    const earlier = this.last;
    let done!: () => void;
    let fail!: (err: unknown) => void;
    this.last = new Promise<void>((resolve, reject) => {
      done = resolve;
      fail = reject;
    });
    this.last.catch(() => {}); // observed through the batch that awaits it
    return work(earlier).then(
      (v) => {
        done();
        return v;
      },
      (err: unknown) => {
        fail(err);
        throw err;
      },
    );
  }
}
