// Simulation: a fleet, its traffic and a virtual clock, plugged into the engine through its ports.
export { VirtualClock } from './clock.js';
export { SimFleet, type SimFleetOptions } from './fleet.js';
export { FleetModel, SIM_METRICS, type FleetModelOptions, type MetricDefinition, type Regression } from './model.js';
export { createRandom, type Random } from './random.js';
