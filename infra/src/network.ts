/**
 * The network: a new VPC (public subnets for the load balancer and NAT, private ones for every
 * task and instance) or an existing one given by ids (no lookups, so synth stays offline), and the
 * VPC endpoints that keep traffic off the NAT gateway, where each gigabyte costs more: S3 (image
 * layers) always, and optionally ECR, SQS, CloudWatch Logs and Secrets Manager.
 */
import { Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { InfraSettings } from './settings.ts';

export class Network extends Construct {
  readonly vpc: ec2.IVpc;
  readonly privateSubnets: ec2.SubnetSelection;
  readonly publicSubnets: ec2.SubnetSelection;
  /** Who may use the interface endpoints: every security group added with allowEndpoints. */
  private readonly endpointsSg?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, settings: InfraSettings) {
    super(scope, id);
    if (settings.vpcId) {
      this.vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
        vpcId: settings.vpcId,
        availabilityZones: settings.availabilityZones,
        privateSubnetIds: settings.privateSubnetIds,
        publicSubnetIds: settings.publicSubnetIds,
      });
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr('10.60.0.0/16'),
        maxAzs: 2,
        natGateways: settings.natGateways,
        subnetConfiguration: [
          { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
          { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ],
      });
      Validations.of(vpc).acknowledge(
        ...[
          {
            id: 'AwsSolutions-VPC7',
            reason:
              'Flow logs are billed per gigabyte and GPU image pulls are large; turn them on per investigation rather than always',
          },
        ],
      );
      this.vpc = vpc;
    }
    this.privateSubnets = { subnets: this.vpc.privateSubnets };
    this.publicSubnets = { subnets: this.vpc.publicSubnets };

    // ECR serves image layers from S3: the gateway endpoint carries the bulk of every image pull
    // and costs nothing. An existing VPC may have one already (one per route table), so there
    // it comes only with vpcEndpoints.
    if (!settings.vpcId || settings.vpcEndpoints) {
      this.vpc.addGatewayEndpoint('S3', {
        service: ec2.GatewayVpcEndpointAwsService.S3,
        subnets: [this.privateSubnets],
      });
    }
    // Interface endpoints are billed by the hour in each zone: worth it for heavy log or queue
    // traffic, or to keep AWS calls off the internet path altogether.
    if (!settings.vpcEndpoints) return;
    this.endpointsSg = new ec2.SecurityGroup(this, 'EndpointsSg', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from Gantry tasks and instances only',
      allowAllOutbound: false,
    });
    const services: [string, ec2.InterfaceVpcEndpointAwsService][] = [
      ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Sqs', ec2.InterfaceVpcEndpointAwsService.SQS],
      ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['SecretsManager', ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    ];
    for (const [eid, service] of services) {
      this.vpc.addInterfaceEndpoint(eid, {
        service,
        subnets: this.privateSubnets,
        securityGroups: [this.endpointsSg],
        open: false,
        privateDnsEnabled: true,
      });
    }
  }

  /** Lets a security group reach the interface endpoints (HTTPS). */
  allowEndpoints(from: ec2.ISecurityGroup): void {
    this.endpointsSg?.addIngressRule(from, ec2.Port.tcp(443), 'HTTPS to the AWS service endpoints');
  }
}
