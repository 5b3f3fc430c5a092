/** Thrown when a state machine is asked for a transition its table does not allow: a bug, never a network fault. */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';

  constructor(
    readonly machine: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`${machine}: illegal transition ${from} → ${to}`);
  }
}

/** For every state, the states it may move to (a state listed for itself may be re-entered). */
export type TransitionTable<S extends string> = { readonly [K in S]: readonly S[] };

/** A finite state machine with an explicit transition table; any transition not in the table is refused. */
export class StateMachine<S extends string> {
  private current: S;

  constructor(
    readonly name: string,
    private readonly table: TransitionTable<S>,
    initial: S,
  ) {
    this.current = initial;
  }

  /** The current state. */
  get state(): S {
    return this.current;
  }

  /** Whether the machine is in one of `states`. */
  is(...states: S[]): boolean {
    return states.includes(this.current);
  }

  /** Whether the table allows moving to `to` now. */
  can(to: S): boolean {
    return this.table[this.current].includes(to);
  }

  /** Moves to `to`; throws `IllegalTransitionError` when the table refuses it. Returns the previous state. */
  transition(to: S): S {
    const from = this.current;
    if (!this.can(to)) throw new IllegalTransitionError(this.name, from, to);
    this.current = to;
    return from;
  }
}
