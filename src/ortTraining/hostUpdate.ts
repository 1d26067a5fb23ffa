import type { HostTensor } from '../ort/ortRunner.js';
import { gradientOutput, type OptimizerSpec, type StepValues } from './trainingOps.js';
import type { TrainingPlan } from './trainingPlan.js';
import { arenaFits, UpdateKernels } from './updateKernels.js';

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The arena: weights, then their gradients (none for a kernel the outer-product update forms), then the optimizer slots. */
const arenaLengths = (plan: TrainingPlan) => [
  ...plan.params.map((p) => size(p.shape)),
  ...plan.params.map((p) => (p.name === plan.outer?.param ? 0 : size(p.shape))),
  ...plan.state.map((p) => size(p.shape)),
];

/**
 * The optimizer's update on the host (updateKernels.ts): the arena that holds the weights,
 * their gradients and the slots, which ONNX Runtime reads and writes in place, and the step
 * that updates them. With a plan's `outer` parameter (the head's hidden kernel), the graph
 * outputs dA instead of that kernel's gradient, the step's features are put in the arena,
 * and the outer-product update forms the gradient inside the update (outerProductKernels.ts).
 */
export class HostUpdate {
  params: Float32Array[] = [];
  state: Float32Array[] = [];
  private grads: Float32Array[] = [];
  private readonly kernels: UpdateKernels;
  private generation = -1;
  private readonly outer: { index: number; output: string; d: number; u: number } | undefined;
  /** The batch size of the features last put in the arena. */
  private samples = 0;

  /** Whether a plan's arrays fit one arena (else the graph updates). */
  static fits(plan: TrainingPlan): boolean {
    return arenaFits(arenaLengths(plan));
  }

  constructor(
    private readonly plan: TrainingPlan,
    private readonly opt: OptimizerSpec,
  ) {
    this.kernels = new UpdateKernels(arenaLengths(plan));
    const index = plan.outer ? plan.params.findIndex((p) => p.name === plan.outer?.param) : -1;
    if (plan.outer && index >= 0) {
      const [d, u] = plan.params[index].shape;
      this.outer = { index, output: plan.outer.output, d, u };
    }
    this.takeViews();
  }

  /** Weights, gradients and slots as views of the arena (again after it grew for a bigger batch). */
  private takeViews(): void {
    if (this.generation === this.kernels.generation) return;
    const n = this.plan.params.length;
    this.params = this.kernels.arrays.slice(0, n);
    this.grads = this.kernels.arrays.slice(n, 2 * n);
    this.state = this.kernels.arrays.slice(2 * n);
    this.generation = this.kernels.generation;
  }

  /**
   * The features ONNX Runtime reads this step: for the outer-product update, a copy in the
   * arena, where the update finds them too (the arena may grow: take `params` and `state` after).
   */
  features(x: Float32Array, n: number): Float32Array {
    if (!this.outer) return x;
    const scratch = this.kernels.outerScratch(n, this.outer.d, this.outer.u);
    this.takeViews();
    scratch.x.set(x);
    this.samples = n;
    return scratch.x;
  }

  /** The outputs ONNX Runtime writes into the arena: the gradients (and dA for the outer-product update). */
  outputs(): Record<string, HostTensor> {
    const into: Record<string, HostTensor> = {};
    this.plan.params.forEach((p, i) => {
      if (i !== this.outer?.index) into[gradientOutput(p.name)] = { data: this.grads[i], dims: p.shape };
    });
    if (this.outer) {
      const { d, u, output } = this.outer;
      into[output] = { data: this.kernels.outerScratch(this.samples, d, u).dA, dims: [this.samples, u] };
    }
    return into;
  }

  /** Update weights and slots in place from the gradients (and dA) the graph just wrote. */
  update(step: StepValues): void {
    const o = this.outer;
    this.kernels.update(this.opt, this.params, this.grads, this.state, step, o?.index ?? -1);
    if (!o) return;
    const perSlot = this.plan.params.length;
    const slots = Array.from({ length: this.state.length / perSlot }, (_, j) => this.state[j * perSlot + o.index]);
    this.kernels.updateOuter(this.opt, o.index, this.params[o.index], slots, this.samples, o.d, o.u, step);
  }
}
