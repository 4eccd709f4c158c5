/** A small typed event emitter (the browser's EventTarget carries no types for its events). */

type AnyListener = (event: never) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();

  /** Call `listener` for every `type` event; returns a function that stops it. */
  on<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as AnyListener);
    return () => this.off(type, listener);
  }

  off<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): void {
    this.listeners.get(type)?.delete(listener as AnyListener);
  }

  /** Call `listener` for the next `type` event only. */
  once<K extends keyof Events>(type: K, listener: (event: Events[K]) => void): () => void {
    const off = this.on(type, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      try {
        const result: unknown = (listener as (event: Events[K]) => unknown)(event);
        // an async listener's failure is reported the same way, not left unhandled
        if (typeof (result as PromiseLike<unknown> | null)?.then === "function") {
          (result as PromiseLike<unknown>).then(undefined, report);
        }
      } catch (err) {
        report(err); // a listener's bug must not stop the SDK's reading
      }
    }
  }
}

/** Report a listener's error as the page would an uncaught one. */
function report(err: unknown): void {
  const reportError = (globalThis as { reportError?: (err: unknown) => void }).reportError;
  if (reportError) reportError(err);
  else console.error(err);
}
