/** Child process entry: one simulated T-Server. */
import { main } from './tserver.js';

main();
