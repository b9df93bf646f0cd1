/**
 * Every component the configuration can name, in start order (sources before servers that read them).
 * One line per component; its module holds schema, validation and build.
 */
import type { AnyComponent } from './component.ts';
import { kubernetesComponent } from '../sources/kube/component.ts';
import { lokiComponent } from '../sinks/loki/component.ts';
import { natsComponent } from '../nats/component.ts';
import { alertmanagerComponent } from '../sinks/alertmanager/component.ts';
import { filesComponent } from '../sources/files/component.ts';
import { bundlesComponent } from '../servers/bundles/component.ts';
import { journaldComponent } from '../sources/journald/component.ts';
import { servicesComponent } from '../sources/services/component.ts';
import { kubeFilesComponent } from '../sources/kube-files/component.ts';

export const COMPONENTS: readonly AnyComponent[] = [lokiComponent, kubernetesComponent, filesComponent, journaldComponent, servicesComponent, kubeFilesComponent, natsComponent, alertmanagerComponent, bundlesComponent];
