import { describeStack } from './support/describe-stack.js';

describeStack('prod');
