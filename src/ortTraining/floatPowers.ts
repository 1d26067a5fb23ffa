/**
 * b^t in float32 as a running product rounded at every step (tfjs's Adam keeps it so), for
 * any t: computed again when b changes, extended when only t grows. Both engines' Adam
 * bias corrections use it, so that they agree to the last bit.
 */
export class FloatPowers {
  private base = Number.NaN;
  private t = 0;
  private value = 1;

  of(base: number, t: number): number {
    if (base !== this.base || t < this.t) {
      this.base = base;
      this.t = 0;
      this.value = 1;
    }
    const b = Math.fround(base);
    // Once the product underflows to 0 it stays there, which bounds the loop.
    while (this.t < t && this.value !== 0) {
      this.value = Math.fround(this.value * b);
      this.t++;
    }
    this.t = t;
    return this.value;
  }
}
