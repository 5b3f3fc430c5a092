/** Where a fault can be injected. */
export type FaultTarget = 'postToConnection';

/** One injected failure: the next `times` matching calls fail with `status` (and the error type API Gateway would send). */
export interface FaultRule {
  target: FaultTarget;
  status: 410 | 429 | 500;
  /** How many calls fail before the rule is used up (default 1). */
  times?: number;
  /** Only calls for this connection fail. */
  connectionId?: string;
}

/** Injected failures shared by the emulators; tests switch them on through `POST /_emulator/faults`. */
export class FaultRegistry {
  private rules: (FaultRule & { remaining: number })[] = [];

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, remaining: rule.times ?? 1 });
  }

  clear(): void {
    this.rules = [];
  }

  /** Consumes and returns the first rule matching this call, if any. */
  take(target: FaultTarget, connectionId?: string): FaultRule | undefined {
    const rule = this.rules.find(
      (candidate) => candidate.target === target && (!candidate.connectionId || candidate.connectionId === connectionId),
    );
    if (!rule) return undefined;
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
    return rule;
  }
}
