/** Child process entry: the simulated switch. */
import { main } from './switch.js';

main();
