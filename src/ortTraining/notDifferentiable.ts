/** The graph holds an op or an attribute these rules do not differentiate. */
export class NotDifferentiable extends Error {}
